/**
 * Generates src/apitypes.ts from the server's JSON schemas (caliban_jupyter/server/:
 * api.schema.json, the replies; flags.schema.json, GET flags): `jlpm build:types` writes it,
 * `jlpm build:types --check` fails when it is out of date (the jest suite checks it too).
 */
const { createHash } = require('crypto');
const { readFileSync, writeFileSync } = require('fs');
const path = require('path');
const { compile } = require('json-schema-to-typescript');

const SERVER = path.resolve(__dirname, '../../caliban_jupyter/server');
const SCHEMA = path.join(SERVER, 'api.schema.json');
const FLAGS = path.join(SERVER, 'flags.schema.json');
const OUT = path.resolve(__dirname, '../src/apitypes.ts');

const STYLE = {
  singleQuote: true,
  trailingComma: 'none',
  arrowParens: 'avoid',
  endOfLine: 'auto'
};

async function generate() {
  const text = readFileSync(SCHEMA, 'utf8');
  const flagsText = readFileSync(FLAGS, 'utf8');
  const digest = createHash('sha256').update(text).digest('hex');
  const flagsDigest = createHash('sha256').update(flagsText).digest('hex');
  const body = await compile(JSON.parse(text), 'ICalibanApi', {
    bannerComment:
      '/**\n * Generated from caliban_jupyter/server/api.schema.json and ' +
      'flags.schema.json by\n * scripts/api-types.js (jlpm build:types): do not edit.\n' +
      ` * schema sha256: ${digest}\n * flags schema sha256: ${flagsDigest}\n */`,
    unreachableDefinitions: true,
    additionalProperties: false,
    style: STYLE
  });
  // The flags schema's names, as this code base names interfaces (I...).
  const flags = JSON.parse(flagsText);
  flags.title = 'IFlagsReply';
  flags.$defs.flag.title = 'IFlag';
  // "any JSON value" (a schema without a type), not an object.
  flags.$defs.flag.properties.default.tsType = 'unknown';
  const flagTypes = await compile(flags, 'IFlagsReply', {
    bannerComment: '',
    additionalProperties: false,
    style: STYLE
  });
  return body + '\n' + flagTypes;
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
