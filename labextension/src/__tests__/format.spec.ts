/**
 * How the panel words a job (format.ts).
 */
import {
  accelerator,
  commonPrefix,
  countsText,
  durationText,
  firstLine,
  nameSuffix
} from '../format';
import { job } from './fakes';

describe('format', () => {
  it("finds the group's common name prefix up to its last _", () => {
    const names = [
      'caliban_me_20260101_000000_1',
      'caliban_me_20260101_000000_2',
      'caliban_me_20260101_000000_10'
    ];
    expect(commonPrefix(names)).toBe('caliban_me_20260101_000000_');
    expect(commonPrefix(['caliban_me_20260101_000000_1'])).toBe(
      'caliban_me_20260101_000000_'
    );
    expect(commonPrefix([])).toBe('');
    expect(commonPrefix(['a_1', 'b_2'])).toBe('');
  });

  it('shows what a name adds to the prefix only when the index does not say it', () => {
    const j = job('g', 2, 'SUCCEEDED');
    expect(nameSuffix(j, 'caliban_me_20260101_000000_')).toBe('');
    expect(
      nameSuffix(
        { ...j, display_name: 'caliban_me_20260101_000000_2-retry1' },
        'caliban_me_20260101_000000_'
      )
    ).toBe('2-retry1');
  });

  it('words counts, durations, accelerators and errors', () => {
    expect(countsText({ FAILED: 1, SUCCEEDED: 2, RUNNING: 3 })).toBe(
      '3 RUNNING, 2 SUCCEEDED, 1 FAILED'
    );
    expect([durationText(4), durationText(200), durationText(7500)]).toEqual([
      '4s',
      '3m20s',
      '2h5m'
    ]);
    const j = job('g', 1, 'RUNNING');
    expect(accelerator(j)).toBe('');
    expect(
      accelerator({
        ...j,
        machine: {
          machineType: 'a2',
          acceleratorType: 'NVIDIA_TESLA_A100',
          acceleratorCount: 2
        }
      })
    ).toBe('2×A100');
    expect(firstLine('\n  The replica exited 1.\nTraceback ...')).toBe(
      'The replica exited 1.'
    );
  });
});
