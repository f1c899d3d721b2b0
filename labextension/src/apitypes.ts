/**
 * Generated from caliban_jupyter/server/api.schema.json and flags.schema.json by
 * scripts/api-types.js (jlpm build:types): do not edit.
 * schema sha256: 91fb438c7fbaa2ded20f6d41a84af73d825eff3ed734ad96afde07a3a4d48d63
 * flags schema sha256: d0193316949b4965c9ee85250f134e067f875d1240bcfcd29bfc2a22b6595c85
 */

/**
 * The JSON the caliban server extension answers under /caliban/api/, by route. One schema for both sides: tests/server/test_api_contract.py checks the server's replies against it, and the lab extension's types (labextension/src/apitypes.ts) are generated from it (jlpm build:types). Every object lists all its keys (additionalProperties false), so a key added on one side and not here fails the contract test.
 */
export interface ICalibanApi {
  'GET groups'?: IGroupsReply;
  'GET groups/{xgroup}'?: IGroupDetail;
  'POST groups/{xgroup}/stop'?: IActionReply;
  'POST groups/{xgroup}/resubmit'?: IActionReply;
  'GET jobs/{name}/logs'?: ILogsReply;
  'GET catalog'?: ICatalogChoices;
  'GET parameters'?: IParametersReply;
  'POST submissions (dry_run)'?: IDryRun;
  'POST submissions'?: ISubmissionReply;
  error?: IMessage;
}
/**
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "IGroupsReply".
 */
export interface IGroupsReply {
  groups: IGroup[];
  next_page_token?: string;
}
/**
 * A group as the panel lists it (server/adapter.py: group_summary, decorated by server/app.py).
 *
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "IGroup".
 */
export interface IGroup {
  xgroup: string;
  backend: string;
  project: string;
  region: string;
  created: string;
  total: number;
  /**
   * Jobs per state, each job once (its latest attempt).
   */
  counts: {
    [k: string]: number;
  };
  /**
   * Every job is in a final state (or the submission failed).
   */
  finished: boolean;
  /**
   * Why the server's refresher could not refresh the group (null: it could).
   */
  refresh_error?: string | null;
  submission?: ISubmissionState;
}
/**
 * A notebook submission this server started (server/submissions.py: Submission.to_json).
 *
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "ISubmissionState".
 */
export interface ISubmissionState {
  state: 'building' | 'submitting' | 'submitted' | 'failed';
  message: string;
  notebook: string;
  submitted: number;
  total: number;
  error: string | null;
}
/**
 * A group with its jobs (GET groups/{xgroup}).
 *
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "IGroupDetail".
 */
export interface IGroupDetail {
  xgroup: string;
  backend: string;
  project: string;
  region: string;
  created: string;
  total: number;
  /**
   * Jobs per state, each job once (its latest attempt).
   */
  counts: {
    [k: string]: number;
  };
  /**
   * Every job is in a final state (or the submission failed).
   */
  finished: boolean;
  /**
   * Why the server's refresher could not refresh the group (null: it could).
   */
  refresh_error?: string | null;
  submission?: ISubmissionState;
  jobs: IJob[];
}
/**
 * records.py: JobRecord.to_json, less its request unless asked (server/adapter.py: job_json).
 *
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "IJob".
 */
export interface IJob {
  submission_id: string;
  display_name: string;
  xgroup: string;
  index: number;
  /**
   * The Vertex state without JOB_STATE_, or NOT_SUBMITTED.
   */
  state: string;
  backend: string;
  project: string;
  region: string;
  image_uri: string;
  args: string[];
  labels: {
    [k: string]: string;
  };
  machine: IMachine;
  resource_name: string | null;
  created: string | null;
  started: string | null;
  ended: string | null;
  updated: string | null;
  error: string | null;
  /**
   * The CustomJob body (only with ?full=1).
   */
  request?: {
    [k: string]: unknown;
  };
  url: string | null;
  web_access_uris: {
    [k: string]: string;
  };
  /**
   * A hyperparameter tuning job's trials as the service last returned them (Vertex's Trial JSON: id, state, parameters, finalMeasurement, startTime, endTime...); empty for a CustomJob.
   */
  trials?: {
    [k: string]: unknown;
  }[];
  /**
   * A notebook job's executed notebook, once it ended.
   */
  notebook_url: string | null;
}
/**
 * spec/jobs.py: MachineSpec.to_json (empty for a job whose request is not known).
 *
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "IMachine".
 */
export interface IMachine {
  machineType?: string;
  acceleratorType?: string;
  acceleratorCount?: number | string;
  tpuTopology?: string;
}
/**
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "IActionReply".
 */
export interface IActionReply {
  xgroup: string;
  jobs: IJob[];
}
/**
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "ILogsReply".
 */
export interface ILogsReply {
  job: string;
  text: string;
}
/**
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "ICatalogChoices".
 */
export interface ICatalogChoices {
  kinds: string[];
  accelerators: string[];
  hidden_accelerators: string[];
  counts: number[];
  machine_types: string[];
  regions: string[];
  catalog: ICatalogInfo;
  /**
   * The installed job services (the server's backend registry).
   */
  backends: IBackendChoice[];
}
/**
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "ICatalogInfo".
 */
export interface ICatalogInfo {
  as_of: string | null;
  compiled: string | null;
  sources: string[];
  notes: string[];
}
/**
 * One installed job service (the server's backend registry).
 *
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "IBackendChoice".
 */
export interface IBackendChoice {
  name: string;
  title: string;
  needs_project: boolean;
  build_modes: string[];
}
/**
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "IParametersReply".
 */
export interface IParametersReply {
  parameters: IParameter[];
}
/**
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "IParameter".
 */
export interface IParameter {
  name: string;
  value: string;
}
/**
 * POST submissions with dry_run: the jobs and their CustomJob bodies (server/adapter.py: dry_run).
 *
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "IDryRun".
 */
export interface IDryRun {
  xgroup: string;
  image: string;
  jobs: IJob[];
  requests: {
    [k: string]: unknown;
  }[];
  cost?: ICost;
}
/**
 * What the planned sweep would cost on Vertex AI, from list prices (the shape is docs/cost-json.md of the cost work: spec/cost.py Estimate.to_json).
 *
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "ICost".
 */
export interface ICost {
  currency: string;
  estimate: string;
  prices_as_of: string;
  region: string;
  jobs: number;
  timeout_seconds: number | null;
  chosen: string | null;
  options: ICostOption[];
  notes: string[];
  warnings: string[];
}
/**
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "ICostOption".
 */
export interface ICostOption {
  /**
   * on-demand, SPOT or FLEX_START
   */
  strategy: string;
  job_usd_per_hour: number | null;
  sweep_usd_per_hour: number | null;
  max_usd: number | null;
  /**
   * One message per missing figure; non-empty: the totals are null, never zero.
   */
  unknown: string[];
  parts: ICostPart[];
}
/**
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "ICostPart".
 */
export interface ICostPart {
  pool: number;
  kind: 'machine' | 'accelerator';
  name: string;
  replicas: number;
  count: number;
  unit_usd_per_hour: number;
  usd_per_hour: number;
  basis: string;
  source: string;
  read: string;
}
/**
 * POST submissions (202): the group's name at once; it fills in while the image builds.
 *
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "ISubmissionReply".
 */
export interface ISubmissionReply {
  xgroup: string;
  jobs: IJob[];
  submission: ISubmissionState;
}
/**
 * Every 4xx/5xx reply: one line that says what to do.
 *
 * This interface was referenced by `ICalibanApi`'s JSON-Schema
 * via the `definition` "IMessage".
 */
export interface IMessage {
  message: string;
}

/**
 * caliban cloud's flag schema (caliban_jupyter/spec/flag_schema.py) as the server extension serves it; the lab dialog renders its fields from it.
 */
export interface IFlagsReply {
  flags: IFlag[];
}
export interface IFlag {
  /**
   * the API keyword and .calibanconfig.json key
   */
  name: string;
  type: 'str' | 'int' | 'float' | 'bool' | 'choice' | 'list' | 'json';
  help: string;
  /**
   * any JSON value, or null for none
   */
  default: unknown;
  choices: null | string[];
  metavar: string | null;
  group: string;
  surfaces: ('cli' | 'magic' | 'api' | 'config_file' | 'settings' | 'export' | 'form' | 'lab')[];
}
