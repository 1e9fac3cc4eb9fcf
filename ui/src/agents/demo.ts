/** Inputs for the demo agents, so a new user can run them without typing. */
export const DEMO_INPUTS: Record<string, string> = {
  "demo-support": "Hi, this is Ada. When will my order A-1001 arrive?",
};
