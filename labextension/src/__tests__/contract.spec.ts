/**
 * The lab's types are generated from the server's schema (api.schema.json), which
 * tests/server/test_api_contract.py checks the server's replies against: apitypes.ts
 * must be what the schema generates today.
 */
import { execFileSync } from 'child_process';
import path from 'path';

describe('apitypes.ts', () => {
  it('is generated from the current api.schema.json', () => {
    // A child process: the generator formats with prettier, an ES module jest cannot load.
    const script = path.resolve(__dirname, '../../scripts/api-types.js');
    expect(() =>
      execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })
    ).not.toThrow();
  }, 60000);
});
