// The one way the project's scripts sign in to the Graph emulator with Microsoft's
// JavaScript Graph client: a client-credentials token from the emulator's token
// endpoint, then `Client.init` with the emulator as a custom host (the SDK attaches the
// token to https endpoints only). Inputs (environment): EMULATOR_BASE
// (https://host:port), EMULATOR_TENANT, EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET.
import { Client } from "@microsoft/microsoft-graph-client";

export const base = process.env.EMULATOR_BASE;
export const tenant = process.env.EMULATOR_TENANT;

export async function token() {
  const res = await fetch(`${base}/${tenant}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: process.env.EMULATOR_CLIENT_ID,
      client_secret: process.env.EMULATOR_CLIENT_SECRET,
      scope: "https://graph.microsoft.com/.default",
    }),
  });
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}`);
  return (await res.json()).access_token;
}

export async function connect() {
  const accessToken = await token();
  return Client.init({
    authProvider: (done) => done(null, accessToken),
    baseUrl: `${base}/`,
    defaultVersion: "v1.0",
    customHosts: new Set([new URL(base).hostname]),
  });
}
