#!/usr/bin/env node
/** The `dialog-fhir` command. */
// Each command's module is loaded when that command runs: `convert` need not load the HTTP
// service, nor `serve` the mappers' CLI (a conversion starts ~0.3 s sooner).

const USAGE = `usage: dialog-fhir <command>
  serve                      run the HTTP service (PORT, DATA_DIR, STORE, AUTH from the environment)
  validate <file|dir>…       validate FHIR JSON / NDJSON files against the dialog-fhir package
  convert --from <format> --to <format> [in] [out]
                             convert between dialogplus-csv, mhsds-csv, hl7v2 and fhir
  demo                       two trusts on loopback, one person's plan handed over and back`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'validate':
      return (await import('./validate-files')).runValidate(rest, (line) => console.log(line));
    case 'convert':
      return (await import('./convert')).runConvert(rest, process);
    case 'demo':
      return (await import('./demo')).runDemo();
    case 'serve':
      await (await import('./serve')).runServe(process.env);
      return 0;
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  },
);
