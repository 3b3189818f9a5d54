// Scenario expectations written as (command, expected output) pairs, matched in order against a
// transcript of steps: each pair matches the next step with that command.

import type { Test } from 'tap';

export interface Step {
  cmd: string;
  out: string[];
}

export type Expected = readonly string[] | RegExp;

export function expectSteps(
  t: Test,
  label: string,
  steps: readonly Step[],
  expectations: ReadonlyArray<readonly [string, Expected]>,
): void {
  let from = 0;
  for (const [cmd, expected] of expectations) {
    let i = from;
    while (i < steps.length && steps[i].cmd !== cmd) i++;
    if (i >= steps.length) {
      t.fail(`${label}: no step '${cmd}' after step ${from}`);
      continue;
    }
    from = i + 1;
    const out = steps[i].out;
    if (expected instanceof RegExp) {
      t.match(out.join('\n'), expected, `${label}: ${cmd}`);
    } else {
      t.strictSame(out, [...expected], `${label}: ${cmd}`);
    }
  }
}
