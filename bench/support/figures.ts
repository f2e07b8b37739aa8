/**
 * The figure table the benches print: one row per figure (`name  value unit  note`), kept for the JSON output.
 * @module
 */

/** One printed figure. */
export interface FigureRow {
  figure: string;
  value: number;
  unit: string;
  note: string;
}

/** Collects and prints figures. */
export class FigureTable {
  readonly rows: FigureRow[] = [];
  readonly #width: number;

  /** @param width columns of the figure's name */
  constructor(width = 60) {
    this.#width = width;
  }

  /** Prints one row (NaN shows as `-`; small fractions with 3 decimals) and keeps it. */
  report = (figure: string, value: number, unit: string, note = ""): void => {
    this.rows.push({ figure, value, unit, note });
    const shown = Number.isNaN(value) ? "-" : value.toFixed(Math.abs(value) < 10 && value % 1 !== 0 ? 3 : 1);
    console.log(`  ${figure.padEnd(this.#width)} ${shown.padStart(10)} ${unit.padEnd(8)} ${note}`);
  };
}

/** The `p` quantile (0..1) of ascending `sorted` (nearest rank), NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}
