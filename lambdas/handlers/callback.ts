// Placeholder entry point: replaced by the real callback handler in a following commit.
export const handler = async (): Promise<never> => {
  throw new Error('callback handler not implemented yet');
};
