// Drives the emulator's realistic tenant (--realistic-tenant) with Microsoft's official
// JavaScript Graph client: the initial domain, directory role assignments with their
// principals, a guest invitation, a licensed user's assignment states, users delta
// with guest properties, and Graph errors the SDK surfaces (a distribution list's
// members, a dynamic group's members, a proxy-address conflict).
// Inputs (environment): EMULATOR_BASE (https://host:port), EMULATOR_TENANT,
// EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, DEFAULT_DOMAIN. Prints one JSON summary
// line on stdout.
import { Client, PageIterator } from "@microsoft/microsoft-graph-client";

const base = process.env.EMULATOR_BASE;
const tenant = process.env.EMULATOR_TENANT;
const domain = process.env.DEFAULT_DOMAIN;

async function token() {
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

const accessToken = await token();
const client = Client.init({
  authProvider: (done) => done(null, accessToken),
  baseUrl: `${base}/`,
  defaultVersion: "v1.0",
  customHosts: new Set([new URL(base).hostname]),
});

async function failure(call) {
  try {
    await call();
    return null;
  } catch (e) {
    return { statusCode: e.statusCode, code: e.code, message: e.message };
  }
}

const org = await client.api("/organization").get();
const initial = org.value[0].verifiedDomains.find((d) => d.isInitial);

const admins = await client
  .api("/roleManagement/directory/roleAssignments")
  .filter("roleDefinitionId eq '62e90394-69f5-4237-9190-012177145e10'")
  .expand("principal")
  .get();

const invitation = await client.api("/invitations").post({
  invitedUserEmailAddress: "new.partner@partner.example",
  inviteRedirectUrl: "https://myapps.microsoft.com",
});

const lena = await client
  .api(`/users/lena.licensed@${domain}`)
  .select("id,assignedLicenses,licenseAssignmentStates")
  .get();

// users/delta through the page iterator, guests' properties selected.
const first = await client
  .api("/users/delta")
  .select("id,userType,creationType,externalUserState")
  .get();
const guests = [];
let deltaLink = null;
const iterator = new PageIterator(client, first, (u) => {
  if (u.userType === "Guest") guests.push(u.externalUserState);
  return true;
});
await iterator.iterate();
deltaLink = iterator.getDeltaLink();

const groups = await client.api("/groups").select("id,mailNickname").top(999).get();
const byNick = Object.fromEntries(groups.value.map((g) => [g.mailNickname, g.id]));
const member = {
  "@odata.id": `https://graph.microsoft.com/v1.0/directoryObjects/${lena.id}`,
};
const dlError = await failure(() =>
  client.api(`/groups/${byNick["all-staff"]}/members/$ref`).post(member),
);
const dynamicError = await failure(() =>
  client.api(`/groups/${byNick["dynamic-sales"]}/members/$ref`).post(member),
);
const proxyError = await failure(() =>
  client.api("/users").post({
    accountEnabled: true,
    displayName: "Jamie New",
    mailNickname: "jamie",
    userPrincipalName: `jamie@${domain}`,
    passwordProfile: { password: "Str0ng!Passw0rd", forceChangePasswordNextSignIn: true },
  }),
);

console.log(
  JSON.stringify({
    initial_domain: initial ? initial.name : null,
    global_admins: admins.value.map((a) => a.principal.userPrincipalName).sort(),
    invitation_status: invitation.status,
    invited_user: invitation.invitedUser ? invitation.invitedUser.id : null,
    lena_states: lena.licenseAssignmentStates.map((s) => ({
      byGroup: s.assignedByGroup !== null,
      state: s.state,
    })),
    lena_licenses: lena.assignedLicenses.length,
    guest_states: guests.sort(),
    delta_link: deltaLink !== null && deltaLink !== undefined,
    dl_error: dlError,
    dynamic_error: dynamicError,
    proxy_error: proxyError,
  }),
);
