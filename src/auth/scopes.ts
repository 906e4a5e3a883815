/**
 * SMART on FHIR scopes: what a token lets its holder do, per resource type.
 *
 * Accepted (SMART App Launch 2.0, with the 1.0 forms mapped to 2.0 letters):
 *   `<context>/<type>.<permissions>` where context is `patient`, `user` or `system`, type is a
 *   resource type or `*`, and permissions are the v2 letters `c r u d s` in that order
 *   (`rs`, `cruds`, `cud`), or the v1 words `read` (= `rs`), `write` (= `cud`), `*` (= `cruds`).
 *
 * Not granted, and reported in `ignored` so the caller can log it:
 *   - v2 scopes restricted by a query (`patient/Observation.rs?category=laboratory`). Honouring
 *     them would mean evaluating search parameters against every resource; ignoring one grants
 *     less than it asks for, never more, so a token carrying one is not refused outright.
 *   - anything that looks like a resource scope but is malformed (letters out of order or
 *     repeated, an unknown context, a lower-case type).
 * Not resource scopes, dropped silently: `openid`, `fhirUser`, `profile`, `launch`,
 * `launch/patient`, `launch/encounter`, `offline_access`, `online_access`, and any other word
 * without a `/`.
 */

export type ScopeContext = 'patient' | 'user' | 'system';

/** The five SMART v2 permissions. */
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';

export interface Scope {
  readonly context: ScopeContext;
  /** A resource type, or `*` for every type. */
  readonly resourceType: string;
  readonly permissions: ReadonlySet<Permission>;
  /** The scope as the token gave it (for logs and error messages; holds no patient data). */
  readonly text: string;
}

export interface ParsedScopes {
  readonly scopes: Scope[];
  /** Resource-like scopes that grant nothing here (query-restricted or malformed). */
  readonly ignored: string[];
}

/**
 * The FHIR interactions a caller asks for. vread and history read; patch updates; search is its
 * own permission. Operations are authorised as the interactions they perform (see index.ts).
 */
export type Interaction =
  'create' | 'read' | 'vread' | 'history' | 'update' | 'patch' | 'delete' | 'search';

export const PERMISSION_OF: Readonly<Record<Interaction, Permission>> = {
  create: 'c',
  read: 'r',
  vread: 'r',
  history: 'r',
  update: 'u',
  patch: 'u',
  delete: 'd',
  search: 's',
};

const V1_WORDS: Readonly<Record<string, string>> = { read: 'rs', write: 'cud', '*': 'cruds' };

/** Letters in SMART's required order; a subsequence of this is a valid permission string. */
const V2_ORDER = /^c?r?u?d?s?$/;

const RESOURCE_SCOPE = /^(patient|user|system)\/([A-Z][A-Za-z]{0,63}|\*)\.([a-z*]+)$/;

/** One scope, or why it grants nothing: 'other' (not a resource scope) or 'ignored'. */
export function parseScope(text: string): Scope | 'other' | 'ignored' {
  if (!text.includes('/')) return 'other';
  if (/^launch(\/|$)/.test(text)) return 'other';
  if (text.includes('?')) return 'ignored';
  const match = RESOURCE_SCOPE.exec(text);
  if (!match) return 'ignored';
  const [, context, resourceType, permissionText] = match;
  if (!context || !resourceType || !permissionText) return 'ignored';
  const letters = V1_WORDS[permissionText] ?? permissionText;
  if (letters === '' || !V2_ORDER.test(letters)) return 'ignored';
  return {
    context: context as ScopeContext,
    resourceType,
    permissions: new Set([...letters] as Permission[]),
    text,
  };
}

/** A space-separated `scope` claim (or an array of scopes, as in `scp`) → scopes granted. */
export function parseScopes(claim: string | readonly string[]): ParsedScopes {
  const words = (typeof claim === 'string' ? claim.split(/\s+/) : claim).filter((w) => w !== '');
  const scopes: Scope[] = [];
  const ignored: string[] = [];
  for (const word of new Set(words)) {
    const parsed = parseScope(word);
    if (parsed === 'ignored') ignored.push(word);
    else if (parsed !== 'other') scopes.push(parsed);
  }
  return { scopes, ignored };
}

/** The scopes that allow `interaction` on `resourceType` (any context). */
export function grantingScopes(
  scopes: readonly Scope[],
  interaction: Interaction,
  resourceType: string,
): Scope[] {
  const permission = PERMISSION_OF[interaction];
  return scopes.filter(
    (s) =>
      (s.resourceType === '*' || s.resourceType === resourceType) && s.permissions.has(permission),
  );
}

/** Whether any scope allows `interaction` on `resourceType`. */
export function allows(
  scopes: readonly Scope[],
  interaction: Interaction,
  resourceType: string,
): boolean {
  return grantingScopes(scopes, interaction, resourceType).length > 0;
}

/** The scopes back as a claim string, in v2 form (for dev tokens and logs). */
export function formatScope(
  scope: Pick<Scope, 'context' | 'resourceType' | 'permissions'>,
): string {
  const letters = (['c', 'r', 'u', 'd', 's'] as const).filter((p) => scope.permissions.has(p));
  return `${scope.context}/${scope.resourceType}.${letters.join('')}`;
}
