/**
 * Name-based UUIDs (RFC 4122 version 5, SHA-1) in the dialog-fhir namespace, for session
 * identifiers derived from native records: exactly `uuidV5(name, DIALOG_NAMESPACE)` of
 * src/fhir/stable-id.ts (a test checks it), through one `Uuid5Prefix` of src/fhir/sha1.ts, which
 * hashes in JavaScript (a `crypto.createHash` per call costs several times more than hashing names
 * this short) and keeps the namespace's bytes ready.
 */
import { DIALOG_NAMESPACE } from '../fhir';
import { Uuid5Prefix, uuidBytes } from '../fhir/sha1';

const DIALOG = new Uuid5Prefix(uuidBytes(DIALOG_NAMESPACE), '');

/** `uuidV5(name, DIALOG_NAMESPACE)`. */
export function dialogUuid(name: string): string {
  return DIALOG.uuid(name);
}
