// Placeholder entry point: replaced by the real router handler in a following commit.
export const handler = async (): Promise<never> => {
  throw new Error('router handler not implemented yet');
};
