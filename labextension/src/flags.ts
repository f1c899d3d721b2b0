/**
 * The Run as job dialog's flags, from the server's flag schema (GET /caliban/api/flags):
 * the dialog renders every flag that takes the lab surface, so a flag added on the server
 * shows in the dialog with no change here. A server older than that route answers 404:
 * the dialog then uses the flags of this version (fallback-flags.json, checked against
 * flags.schema.json and the served flags by tests/server/test_api_contract.py).
 */
import { ApiError, IFlag, IFlagsReply, request } from './api';
import FALLBACK from './fallback-flags.json';

export const FALLBACK_FLAGS = (FALLBACK as IFlagsReply).flags;

/** The lab flags, and whether the server served them. */
export async function labFlags(
  get: <T>(path: string) => Promise<T> = request
): Promise<{ flags: IFlag[]; served: boolean }> {
  try {
    const reply = await get<IFlagsReply>('flags');
    return {
      flags: reply.flags.filter(f => f.surfaces.includes('lab')),
      served: true
    };
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      return { flags: FALLBACK_FLAGS, served: false };
    }
    throw e;
  }
}

/** The dialog's own fields (the catalog's choices follow each other there): never
 * rendered generically. */
export const MAIN_FIELDS = new Set([
  'backend',
  'project_id',
  'nogpu',
  'gpu_spec',
  'tpu_spec',
  'machine_type',
  'region',
  'base_image',
  'xgroup',
  'experiment_config'
]);

/** The runtime section's flags, in the server's order. */
export function runtimeFlags(flags: IFlag[]): IFlag[] {
  return flags.filter(f => !MAIN_FIELDS.has(f.name));
}

/** A flag's choices (``fallback`` when the server does not list the flag). */
export function choicesOf(
  flags: IFlag[],
  name: string,
  fallback: string[]
): string[] {
  const flag = flags.find(f => f.name === name);
  return flag && flag.choices ? flag.choices : fallback;
}

/** ``max wait`` for ``max_wait``; a few read better in words of their own. */
export function labelOf(flag: IFlag): string {
  const words: { [name: string]: string } = {
    worker_machine_type: 'worker machine',
    worker_gpu_spec: 'worker GPUs'
  };
  return words[flag.name] || flag.name.replace(/_/g, ' ');
}

/** A placeholder from the flag's help (its ``e.g.`` example) or its metavar. */
export function placeholderOf(flag: IFlag): string {
  const example = flag.help.match(/e\.g\. ([^;()]+?)(?:\s*\(|;|$)/);
  if (example) {
    return `e.g. ${example[1].trim()}`;
  }
  if (
    flag.default !== null &&
    flag.default !== undefined &&
    flag.default !== false
  ) {
    return `(${String(flag.default)})`;
  }
  return flag.metavar || '';
}
