/**
 * The dialog's runtime section from the server's flag schema (flags.ts, fields.tsx): a
 * flag the server adds is offered and sent; an older server (404) gets this version's.
 */
import { ApiError, IFlag } from '../api';
import { NO_RUNTIME, runtimeOptions } from '../fields';
import {
  choicesOf,
  FALLBACK_FLAGS,
  labFlags,
  placeholderOf,
  runtimeFlags
} from '../flags';

const names = (flags: IFlag[]) => flags.map(f => f.name);

describe('lab flags', () => {
  it("takes the server's flags for the lab surface", async () => {
    const added: IFlag = {
      name: 'reservation',
      type: 'str',
      help: 'a Compute Engine reservation, e.g. my-res',
      default: null,
      choices: null,
      metavar: 'NAME',
      group: 'scheduling',
      surfaces: ['cli', 'lab']
    };
    const cliOnly = { ...added, name: 'cli_only', surfaces: ['cli' as const] };
    const get = async <T>(path: string): Promise<T> => {
      expect(path).toBe('flags');
      return { flags: [...FALLBACK_FLAGS, added, cliOnly] } as T;
    };
    const { flags, served } = await labFlags(get);
    expect(served).toBe(true);
    expect(names(runtimeFlags(flags))).toEqual([
      'spot',
      'flex_start',
      'max_wait',
      'timeout',
      'workers',
      'worker_machine_type',
      'worker_gpu_spec',
      'reservation'
    ]);
    expect(placeholderOf(added)).toBe('e.g. my-res');
    const runtime = { ...NO_RUNTIME, values: { reservation: ' my-res ' } };
    expect(runtimeOptions(runtime, flags)).toEqual({ reservation: 'my-res' });
  });

  it("falls back to this version's flags on a server without the route", async () => {
    const get = async <T>(): Promise<T> => {
      throw new ApiError(404, 'Not Found');
    };
    const { flags, served } = await labFlags(get);
    expect(served).toBe(false);
    expect(flags).toBe(FALLBACK_FLAGS);
    expect(choicesOf(flags, 'backend', [])).toEqual(['vertex', 'local']);
  });

  it('sends capacity as one choice and what applies only with another choice only then', () => {
    const flags = FALLBACK_FLAGS;
    const values = {
      max_wait: '2h',
      timeout: '3h',
      worker_machine_type: 'n1-standard-4'
    };
    expect(runtimeOptions({ capacity: 'Spot', values }, flags)).toEqual({
      spot: true,
      timeout: '3h'
    });
    expect(runtimeOptions({ capacity: 'flex-start', values }, flags)).toEqual({
      flex_start: true,
      max_wait: '2h',
      timeout: '3h'
    });
    expect(
      runtimeOptions(
        { capacity: 'on-demand', values: { ...values, workers: '2' } },
        flags
      )
    ).toEqual({
      timeout: '3h',
      workers: '2',
      worker_machine_type: 'n1-standard-4'
    });
    expect(placeholderOf(flags.find(f => f.name === 'timeout')!)).toBe(
      'e.g. 90m, 2h, 3600s, 1d'
    );
  });
});
