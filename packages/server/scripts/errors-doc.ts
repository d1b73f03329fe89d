/**
 * Writes docs/errors.md from the error catalog (lib/errors.ts, STYLE.md rule 12), grouped by wire
 * code. Deterministic: the same catalog always gives the same file.
 *
 *   npm run docs:errors
 */
import { writeFileSync } from 'node:fs';
import { catalog } from '../src/lib/errors.ts';

const out = new URL('../../../docs/errors.md', import.meta.url);

/** Table cells must not break the Markdown table. */
function cell(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('|', '\\|').replaceAll('\n', ' ');
}

const byCode = new Map<string, { reason: string; http: number; connect: string; message: string }[]>();
for (const [reason, entry] of Object.entries(catalog)) {
  const rows = byCode.get(entry.code) ?? [];
  rows.push({ reason, http: entry.http, connect: entry.connect, message: entry.message });
  byCode.set(entry.code, rows);
}
const codes = [...byCode.keys()].sort();

const lines: string[] = [
  '# Error codes',
  '',
  '<!-- Generated from packages/server/src/lib/errors.ts by packages/server/scripts/errors-doc.ts.',
  '     Do not edit by hand: change the catalog, then run `npm run docs:errors`. -->',
  '',
  'Every error response has the APIv3 body `{"code", "message", "detail"?}`; `detail` (when present)',
  'names the offending `field`, its `value`, the `issue` and its `location` (`body`, `query`, `path`,',
  '`header`). `code` is the wire code; several reasons share one wire code, and the message tells',
  'them apart. The reason (the catalog key) is what the server code names the outcome; it is not',
  'sent on the wire. "Connect" is the Connect/gRPC code the same outcome maps to.',
  '',
  '`MCH_NOT_EXISTS` is HTTP 404 on `/v3/refund/*` and 400 elsewhere, as in APIv3. Schema',
  'violations (missing, unknown or malformed fields) are `PARAM_ERROR` with `detail.field`.',
  'Unknown paths answer `404` and wrong methods `405`, both with an empty body. Payer-side',
  '`GET /sns/jscode2session` answers errors as HTTP 200 with `errcode`/`errmsg` (see docs/sandbox.md).',
  '',
  `Wire codes: ${codes.map((c) => `[\`${c}\`](#${c.toLowerCase()})`).join(', ')}.`,
  '',
];
for (const code of codes) {
  lines.push(`## ${code}`, '', '| code | HTTP | Connect | reason | message |', '|---|---|---|---|---|');
  for (const r of byCode.get(code)!) {
    lines.push(`| \`${code}\` | ${r.http} | \`${r.connect}\` | \`${r.reason}\` | ${cell(r.message)} |`);
  }
  lines.push('');
}

writeFileSync(out, lines.join('\n'));
process.stdout.write(
  `wrote docs/errors.md (${codes.length} codes, ${Object.keys(catalog).length} reasons)\n`,
);
