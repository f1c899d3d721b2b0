/**
 * The panel's model against a scripted server, on jest's fake clock: its polling pace
 * (visible, hidden, the setting), its back-off when the server does not answer, what it
 * fetches again when a listing changes (ETags, details, logs), and the notifications it
 * raises whether or not the panel was ever shown.
 */
import { ApiError } from '../api';
import { BACKOFF_MAX, CalibanModel } from '../model';
import { FakeServer, group, job, RecordingNotifier } from './fakes';

let server: FakeServer;
let notifier: RecordingNotifier;
let model: CalibanModel;

/** Let ``seconds`` pass on the fake clock, running the polls due meanwhile. */
async function pass(seconds: number): Promise<void> {
  await jest.advanceTimersByTimeAsync(seconds * 1000);
}

beforeEach(() => {
  jest.useFakeTimers();
  server = new FakeServer();
  notifier = new RecordingNotifier();
  model = new CalibanModel(notifier, server);
});

afterEach(() => {
  model.dispose();
  jest.useRealTimers();
});

describe('polling', () => {
  it('checks the groups at the setting while visible', async () => {
    model.setVisible(true);
    await pass(0);
    expect(server.count('GET groups')).toBe(1);
    await pass(3 * 4);
    expect(server.count('GET groups')).toBe(5);
    model.setInterval(1); // the setting changed: at once, then every second
    await pass(0);
    expect(server.count('GET groups')).toBe(6);
    await pass(5);
    expect(server.count('GET groups')).toBe(11);
  });

  it('checks ten times less often while hidden, at most every 30 s', async () => {
    model.schedule(0); // the lab started; the panel was never shown
    await pass(0);
    expect(server.count('GET groups')).toBe(1);
    await pass(29);
    expect(server.count('GET groups')).toBe(1);
    await pass(1);
    expect(server.count('GET groups')).toBe(2);
    model.setInterval(1);
    await pass(0);
    const before = server.count('GET groups');
    await pass(30);
    expect(server.count('GET groups')).toBe(before + 3);
    expect(model.delay).toBe(10);
  });

  it('sends the ETag it got, and a 304 changes nothing', async () => {
    server.groups = [group('g', { RUNNING: 1 })];
    model.setVisible(true);
    await pass(0);
    const shown = model.groups;
    await pass(3);
    expect(server.calls.slice(-1)).toEqual(['GET groups (etag)']);
    expect(model.groups).toBe(shown);
  });

  it('reads nothing but the group list while hidden', async () => {
    server.groups = [group('g', { RUNNING: 1 })];
    server.jobs.set('g', [job('g', 1, 'RUNNING')]);
    model.expand('g');
    model.showLogs('g', job('g', 1, 'RUNNING').display_name);
    await pass(0);
    server.calls = [];
    await pass(60);
    expect(new Set(server.calls)).toEqual(new Set(['GET groups (etag)']));
  });
});

describe('back-off', () => {
  it('waits twice as long after each failed check, then resumes its pace', async () => {
    server.failure = new ApiError(0, 'cannot reach the Jupyter server');
    model.setVisible(true);
    await pass(0);
    const waits: number[] = [];
    for (let i = 0; i < 7; i++) {
      waits.push(model.delay);
      await pass(model.delay);
    }
    expect(waits).toEqual([
      6,
      12,
      24,
      48,
      BACKOFF_MAX,
      BACKOFF_MAX,
      BACKOFF_MAX
    ]);
    expect(model.error).toBe('cannot reach the Jupyter server');
    expect(server.count('GET groups')).toBe(8);
    server.failure = null;
    await pass(BACKOFF_MAX);
    expect(model.error).toBeNull();
    expect(model.delay).toBe(3);
  });

  it('says the server extension is missing on a 404', async () => {
    server.failure = new ApiError(404, 'Not Found');
    model.schedule(0);
    await pass(0);
    expect(model.missing).toBe(true);
    expect(model.error).toBeNull();
  });

  it('a refresh asks at once, whatever the back-off', async () => {
    server.failure = new ApiError(502, 'the job service failed');
    model.setVisible(true);
    await pass(0);
    await pass(6);
    server.failure = null;
    const before = server.count('GET groups');
    model.refresh();
    await pass(0);
    expect(server.count('GET groups')).toBe(before + 1);
    expect(model.delay).toBe(3);
  });
});

describe('diffing', () => {
  it("fetches an expanded group's jobs again only when its counts change", async () => {
    server.groups = [group('g', { RUNNING: 2 })];
    server.jobs.set('g', [job('g', 1, 'RUNNING'), job('g', 2, 'RUNNING')]);
    model.setVisible(true);
    model.expand('g');
    await pass(0);
    expect(model.details.get('g')!.jobs.map(j => j.state)).toEqual([
      'RUNNING',
      'RUNNING'
    ]);
    expect(server.count('GET groups/g')).toBe(1);
    await pass(3);
    expect(server.calls.slice(-1)).toEqual(['GET groups/g (etag)']); // a 304
    server.groups = [group('g', { RUNNING: 1, SUCCEEDED: 1 })];
    server.jobs.set('g', [job('g', 1, 'SUCCEEDED'), job('g', 2, 'RUNNING')]);
    await pass(3);
    // The counts changed: the detail is asked for without its old ETag.
    expect(server.calls).toContain('GET groups/g');
    expect(model.details.get('g')!.jobs.map(j => j.state)).toEqual([
      'SUCCEEDED',
      'RUNNING'
    ]);
  });

  it("stops asking for a finished group's jobs", async () => {
    server.groups = [group('g', { SUCCEEDED: 1 })];
    server.jobs.set('g', [job('g', 1, 'SUCCEEDED')]);
    model.setVisible(true);
    model.expand('g');
    await pass(0);
    await pass(30);
    expect(server.count('GET groups/g')).toBe(1);
  });

  it("follows a running job's log until it ends, then reads it once more", async () => {
    const name = job('g', 1, 'RUNNING').display_name;
    server.groups = [group('g', { RUNNING: 1 })];
    server.jobs.set('g', [job('g', 1, 'RUNNING')]);
    server.logs.set(name, 'step 0\n');
    model.setVisible(true);
    model.expand('g');
    await pass(0);
    model.showLogs('g', name);
    await pass(0);
    expect(model.log!.text).toBe('step 0\n');
    server.logs.set(name, 'step 0\nstep 1\n');
    await pass(3);
    expect(model.log!.text).toBe('step 0\nstep 1\n');
    expect(model.log!.following).toBe(true);
    server.groups = [group('g', { SUCCEEDED: 1 })];
    server.jobs.set('g', [job('g', 1, 'SUCCEEDED')]);
    server.logs.set(name, 'step 0\nstep 1\ndone\n');
    await pass(3);
    expect(model.log!.text).toBe('step 0\nstep 1\ndone\n');
    expect(model.log!.following).toBe(false);
    const reads = server.count(`GET jobs/${name}/logs`);
    await pass(30);
    expect(server.count(`GET jobs/${name}/logs`)).toBe(reads);
  });
});

describe('notifications', () => {
  it('announces a group submitted after the lab opened, never shown before', async () => {
    server.groups = [group('old', { SUCCEEDED: 1, FAILED: 1 })];
    model.schedule(0); // hidden all along
    await pass(0);
    expect(notifier.notices).toEqual([]); // the baseline is not news
    // A sweep submitted from a cell; a job failed before the next check saw it.
    server.groups = [group('new', { RUNNING: 1, FAILED: 1 }), ...server.groups];
    await pass(30);
    expect(notifier.notices.map(n => n.message)).toEqual([
      '1 job of new FAILED'
    ]);
    await pass(30 * 5); // many checks later: once
    expect(notifier.notices).toHaveLength(1);
    server.groups = [
      group('new', { SUCCEEDED: 1, FAILED: 1 }),
      server.groups[1]
    ];
    await pass(30);
    expect(notifier.notices.map(n => [n.kind, n.level, n.message])).toEqual([
      ['failed', 'error', '1 job of new FAILED'],
      [
        'finished',
        'warning',
        'Experiment group new finished: 1 SUCCEEDED, 1 FAILED'
      ]
    ]);
  });

  it('announces a resubmitted group that ends as before again', async () => {
    server.groups = [group('g', { SUCCEEDED: 1, RUNNING: 1 })];
    model.schedule(0);
    await pass(0);
    const sequence: { [state: string]: number }[] = [
      { SUCCEEDED: 1, FAILED: 1 },
      { SUCCEEDED: 1, RUNNING: 1 }, // job 2 resubmitted
      { SUCCEEDED: 1, FAILED: 1 }
    ];
    for (const counts of sequence) {
      server.groups = [group('g', counts)];
      await pass(30);
    }
    expect(notifier.notices.map(n => n.kind)).toEqual(['finished', 'finished']);
  });

  it("a notice's Show logs opens the failed job's log", async () => {
    server.groups = [];
    model.schedule(0);
    await pass(0);
    const failed = job('new', 2, 'FAILED');
    server.groups = [group('new', { SUCCEEDED: 1, FAILED: 1 })];
    server.jobs.set('new', [job('new', 1, 'SUCCEEDED'), failed]);
    server.logs.set(failed.display_name, 'Traceback\n');
    let opened = 0;
    model.onShowLogs = () => opened++;
    await pass(30);
    expect(notifier.notices.map(n => n.failed)).toEqual([true]);
    notifier.actions[0].showLogs();
    await pass(0);
    expect(opened).toBe(1);
    expect(model.expanded.has('new')).toBe(true);
    expect(model.log).toMatchObject({
      job: failed.display_name,
      text: 'Traceback\n'
    });
    notifier.actions[0].resubmit();
    await pass(0);
    expect(server.calls).toContain('POST groups/new/resubmit');
  });
});
