// Stand-in for ComfyUI's scripts/api.js: fetchApi answers with `api.report` and counts requests.
export const api = {
  report: null,
  requests: [],
  apiURL: (route) => `/api${route}`,
  async fetchApi(route) {
    api.requests.push(route);
    return { ok: true, status: 200, json: async () => structuredClone(api.report) };
  },
};
