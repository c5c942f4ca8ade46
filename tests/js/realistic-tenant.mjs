// Drives the emulator's realistic tenant (--realistic-tenant) with Microsoft's official
// JavaScript Graph client: the initial domain, directory role assignments with their
// principals, a guest invitation, a licensed user's assignment states, users delta
// with guest properties, and Graph errors the SDK surfaces (a distribution list's
// members, a dynamic group's members, a proxy-address conflict).
// Inputs (environment): EMULATOR_BASE (https://host:port), EMULATOR_TENANT,
// EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, DEFAULT_DOMAIN. Prints one JSON summary
// line on stdout.
import { PageIterator } from "@microsoft/microsoft-graph-client";
import { connect } from "./connect.mjs";

const domain = process.env.DEFAULT_DOMAIN;
const client = await connect();

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
