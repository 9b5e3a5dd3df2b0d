/** The `flow` command line. */
export async function main(_argv: string[]): Promise<number> {
  console.log('flow: not yet implemented');
  return 0;
}
