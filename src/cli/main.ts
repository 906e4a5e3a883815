#!/usr/bin/env node
/** The `dialog-fhir` command. */
import { runValidate } from './validate-files';
import { runServe } from './serve';
import { runConvert } from './convert';
import { runDemo } from './demo';

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
      return runValidate(rest, (line) => console.log(line));
    case 'convert':
      return runConvert(rest, process);
    case 'demo':
      return runDemo();
    case 'serve':
      await runServe(process.env);
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
