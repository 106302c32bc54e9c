// Placeholder entry point: replaced by the real forwarder handler in a following commit.
export const handler = async (): Promise<never> => {
  throw new Error('forwarder handler not implemented yet');
};
