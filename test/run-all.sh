#!/usr/bin/env bash
# The whole suite: type check, lint, format, the FHIR package up to date, then jest. Everything
# that reads or writes dates for people (the domain's rules, narratives, letters, charts) runs again
# under two more time zones (one with daylight saving), as in fhirpath.js.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc --noEmit -p .
npx eslint .
npx prettier --check . > /dev/null
node profiles/scripts/build-package.mjs > /dev/null
git diff --exit-code --stat -- profiles/package || { echo 'profiles/package is stale: run npm run build:profiles and commit' >&2; exit 1; }
TZ=Europe/London npx jest --ci
TZ=UTC npx jest --ci test/dialog test/narrative test/letter test/charts
TZ=America/New_York npx jest --ci test/dialog test/narrative test/letter test/charts
