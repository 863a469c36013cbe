/** Where a problem was found: the file, and the line or tile when known. */
export interface IssueLocation {
  file: string;
  line?: number;
  tileId?: string;
}

/** One problem with a dataset, worded for the person who has to fix the file. */
export interface DataIssue extends IssueLocation {
  message: string;
}

export function formatIssue(issue: DataIssue): string {
  const where = [issue.file];
  if (issue.line !== undefined) where.push(`line ${issue.line}`);
  if (issue.tileId !== undefined) where.push(`tile ${issue.tileId}`);
  return `${where.join(': ')}: ${issue.message}`;
}

/** Thrown for bad input; carries every issue found so `data check` can list them all. */
export class DatasetError extends Error {
  readonly issues: DataIssue[];
  constructor(issues: DataIssue[]) {
    const first = issues[0];
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
    super(first ? formatIssue(first) + more : 'invalid dataset');
    this.name = 'DatasetError';
    this.issues = issues;
  }
}

/**
 * Collects issues. In strict mode the first one throws at once (the behaviour of every
 * verb but `data check`); otherwise they accumulate and the caller decides.
 */
export class IssueCollector {
  readonly issues: DataIssue[] = [];
  constructor(readonly strict: boolean) {}
  add(issue: DataIssue): void {
    this.issues.push(issue);
    if (this.strict) throw new DatasetError([issue]);
  }
}
