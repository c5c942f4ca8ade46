// Drives the Graph emulator's people features with Microsoft's official JavaScript
// Graph client: a manager set by PUT manager/$ref, read back (GET manager and
// $expand=manager($select=id)) and removed; onPremisesExtensionAttributes and
// employeeOrgData written by PATCH and read by $select; a deleted user restored with
// newUserPrincipalName, keeping its id.
// Inputs (environment): EMULATOR_BASE (https://host:port), EMULATOR_TENANT,
// EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET. Prints one JSON summary line on stdout.
import { connect } from "./connect.mjs";

const client = await connect();

async function createUser(nick) {
  return client.api("/users").post({
    accountEnabled: true,
    displayName: `JS ${nick}`,
    mailNickname: nick,
    userPrincipalName: `${nick}@contoso.com`,
    passwordProfile: { forceChangePasswordNextSignIn: true, password: "Str0ng!Passw0rd" },
  });
}

async function status(request) {
  try {
    await request;
    return 200;
  } catch (e) {
    return e.statusCode;
  }
}

const boss = await createUser("jsboss");
const ann = await createUser("jsann");

// 1. The manager: set, read, expanded, removed.
await client
  .api(`/users/${ann.id}/manager/$ref`)
  .put({ "@odata.id": `https://graph.microsoft.com/v1.0/directoryObjects/${boss.id}` });
const manager = await client.api(`/users/${ann.id}/manager`).select("id,displayName").get();
const listed = await client
  .api("/users")
  .select("id,mailNickname")
  .expand("manager($select=id)")
  .top(999)
  .get();
const annListed = listed.value.find((u) => u.id === ann.id);
const single = await client.api(`/users/${ann.id}`).select("id").expand("manager($select=id)").get();
const reports = await client.api(`/users/${boss.id}/directReports`).select("id").get();
await client.api(`/users/${ann.id}/manager/$ref`).delete();
const managerAfterRemoval = await status(client.api(`/users/${ann.id}/manager`).get());
const expandedAfterRemoval = await client
  .api(`/users/${ann.id}`)
  .select("id")
  .expand("manager($select=id)")
  .get();

// 2. Complex properties, PATCHed nested and read by $select.
await client.api(`/users/${ann.id}`).patch({
  onPremisesExtensionAttributes: { extensionAttribute1: "js-ext-1" },
  employeeOrgData: { costCenter: "CC-JS", division: "Research" },
});
await client.api(`/users/${ann.id}`).patch({ employeeOrgData: { costCenter: "CC-JS-2" } });
const props = await client
  .api(`/users/${ann.id}`)
  .select("onPremisesExtensionAttributes,employeeOrgData")
  .get();

// 3. Restore with a new userPrincipalName: the old one was taken meanwhile.
await client.api(`/users/${ann.id}`).delete();
const taker = await createUser("jsann");
const conflict = await status(client.api(`/directory/deletedItems/${ann.id}/restore`).post({}));
const restored = await client
  .api(`/directory/deletedItems/${ann.id}/restore`)
  .post({ newUserPrincipalName: "jsann.back@contoso.com" });
const live = await client.api("/users/jsann.back@contoso.com").select("id,userPrincipalName").get();

console.log(
  JSON.stringify({
    boss: boss.id,
    ann: ann.id,
    taker: taker.id,
    manager_id: manager.id,
    manager_name: manager.displayName,
    listed_manager: annListed?.manager?.id ?? null,
    single_manager: single.manager?.id ?? null,
    reports: reports.value.map((u) => u.id),
    manager_after_removal: managerAfterRemoval,
    expanded_after_removal: "manager" in expandedAfterRemoval,
    extension_attribute1: props.onPremisesExtensionAttributes?.extensionAttribute1 ?? null,
    extension_attribute2:
      props.onPremisesExtensionAttributes?.extensionAttribute2 === undefined
        ? "absent"
        : props.onPremisesExtensionAttributes.extensionAttribute2,
    cost_center: props.employeeOrgData?.costCenter ?? null,
    division: props.employeeOrgData?.division ?? null,
    restore_conflict: conflict,
    restored_id: restored.id,
    restored_upn: restored.userPrincipalName,
    live_id: live.id,
    live_upn: live.userPrincipalName,
  }),
);
