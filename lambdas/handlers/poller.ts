// Placeholder entry point: replaced by the real poller handler in a following commit.
export const handler = async (): Promise<never> => {
  throw new Error('poller handler not implemented yet');
};
