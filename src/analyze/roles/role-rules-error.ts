/**
 * The one error a role rules file can raise. It carries every problem found, so an operator
 * fixes a file in one pass instead of one complaint per run.
 */
export class RoleRulesError extends Error {
  constructor(
    /** Where the rules came from: a file path, or a description when they were built in code. */
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(
      problems.length === 1
        ? `${source}: ${problems[0]}`
        : `${source} has ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'RoleRulesError';
  }
}
