/** Numbers for people: four significant digits, an exponent only for very large or small values. */
export function formatNumber(x: number): string {
  const a = Math.abs(x);
  if (a !== 0 && Number.isFinite(x) && (a >= 1e5 || a < 1e-3)) return x.toExponential(3);
  return String(Number(x.toPrecision(4)));
}
