/**
 * Generates src/apitypes.ts from the server's JSON schema
 * (caliban_jupyter/server/api.schema.json): `jlpm build:types` writes it,
 * `jlpm build:types --check` fails when it is out of date (the jest suite checks it too).
 */
const { createHash } = require('crypto');
const { readFileSync, writeFileSync } = require('fs');
const path = require('path');
const { compile } = require('json-schema-to-typescript');

const SCHEMA = path.resolve(
  __dirname,
  '../../caliban_jupyter/server/api.schema.json'
);
const OUT = path.resolve(__dirname, '../src/apitypes.ts');

async function generate() {
  const text = readFileSync(SCHEMA, 'utf8');
  const digest = createHash('sha256').update(text).digest('hex');
  const body = await compile(JSON.parse(text), 'ICalibanApi', {
    bannerComment:
      '/**\n * Generated from caliban_jupyter/server/api.schema.json by ' +
      'scripts/api-types.js (jlpm build:types): do not edit.\n' +
      ` * schema sha256: ${digest}\n */`,
    unreachableDefinitions: true,
    additionalProperties: false,
    style: {
      singleQuote: true,
      trailingComma: 'none',
      arrowParens: 'avoid',
      endOfLine: 'auto'
    }
  });
  return body;
}

module.exports = { generate, OUT };

if (require.main === module) {
  generate().then(body => {
    if (process.argv.includes('--check')) {
      if (readFileSync(OUT, 'utf8') !== body) {
        console.error(`${OUT} is out of date: run jlpm build:types`);
        process.exit(1);
      }
    } else {
      writeFileSync(OUT, body);
    }
  });
}
