// Drives the Graph emulator with Microsoft's official JavaScript Graph client:
// the page iterator over every user, a JSON batch, a group upsert by alternate key
// (group-upsert.md), and a Graph error surfaced by the SDK.
// Inputs (environment): EMULATOR_BASE (https://host:port), EMULATOR_TENANT,
// EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET. Prints one JSON summary line on stdout.
import {
  PageIterator,
  BatchRequestContent,
  BatchResponseContent,
} from "@microsoft/microsoft-graph-client";
import { base, connect } from "./connect.mjs";

const client = await connect();

// 1. Page iterator over all users.
const first = await client.api("/users").select("id,userPrincipalName").top(999).get();
let pages = 1;
let seen = 0;
const ids = new Set();
const iterator = new PageIterator(client, first, (user) => {
  seen += 1;
  ids.add(user.id);
  return true;
});
// Count pages as the iterator fetches them.
const origFetch = iterator.fetchAndUpdateNextPageData.bind(iterator);
iterator.fetchAndUpdateNextPageData = async () => {
  pages += 1;
  return origFetch();
};
await iterator.iterate();

// 2. A JSON batch (serial dependencies) through the SDK's batch content helpers.
const batch = new BatchRequestContent([
  { id: "1", request: new Request(`${base}/v1.0/users?$top=1`, { method: "GET" }) },
  {
    id: "2",
    dependsOn: ["1"],
    request: new Request(`${base}/v1.0/groups`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        displayName: "JS SDK group",
        mailEnabled: false,
        mailNickname: "jssdk",
        securityEnabled: true,
      }),
    }),
  },
  {
    id: "3",
    request: new Request(`${base}/v1.0/groups?$filter=displayName eq 'JS SDK group'`, { method: "GET" }),
    dependsOn: ["2"],
  },
]);
const batchBody = await batch.getContent();
const batchRaw = await client.api("/$batch").post(batchBody);
const batchResponses = new BatchResponseContent(batchRaw);
const statuses = {};
for (const [id, resp] of batchResponses.getResponses()) statuses[id] = resp.status;
const found = await batchResponses.getResponseById("3").json();

// 3. Upsert by uniqueName, twice: created (201, with the group), then updated (204).
const upsertBody = {
  displayName: "Upserted group",
  mailEnabled: false,
  mailNickname: "upserted",
  securityEnabled: true,
};
const upsertStatuses = [];
let upsertId = null;
for (const description of ["first", "second"]) {
  const res = await client
    .api("/groups(uniqueName='js-upsert')")
    .header("Prefer", "create-if-missing")
    .responseType("raw")
    .patch({ ...upsertBody, description });
  upsertStatuses.push(res.status);
  if (res.status === 201) upsertId = (await res.json()).id;
}
const upserted = await client.api("/groups(uniqueName='js-upsert')").select("id,description").get();

// 4. A Graph error surfaced by the SDK.
let error = null;
try {
  await client.api("/users/nobody@contoso.com").get();
} catch (e) {
  error = { statusCode: e.statusCode, code: e.code, requestId: e.requestId ?? null, message: e.message };
}

console.log(
  JSON.stringify({
    users_seen: seen,
    unique_ids: ids.size,
    pages,
    batch_statuses: statuses,
    batch_found: (found.value || []).length,
    upsert_statuses: upsertStatuses,
    upsert_same_group: upsertId !== null && upserted.id === upsertId,
    upsert_description: upserted.description,
    error,
  }),
);
