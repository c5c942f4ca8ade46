// The peer of roster's full read in `cargo bench --bench reference`: what an admin
// would write with Microsoft's JavaScript Graph client to get a tenant's users, groups
// and memberships — users and groups through the SDK's page iterator ($top=999), then
// every group's members as JSON batches of 20 listings, 4 batches in flight, each
// listing followed through its nextLink; domains and SKUs as single requests. It keeps
// what it read in memory (users by id, member id sets by group) and prints one JSON
// summary line. Inputs (environment): EMULATOR_BASE, EMULATOR_TENANT,
// EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET.
import { PageIterator } from "@microsoft/microsoft-graph-client";
import { connect } from "./connect.mjs";

const t0 = performance.now();
const client = await connect();

async function all(request) {
  const out = [];
  const first = await request.get();
  await new PageIterator(client, first, (item) => {
    out.push(item);
    return true;
  }).iterate();
  return out;
}

const USER_SELECT =
  "id,userPrincipalName,mail,givenName,surname,displayName,department,jobTitle,employeeId,usageLocation,mobilePhone,accountEnabled,assignedLicenses,userType,onPremisesSyncEnabled,mailNickname";
const [users, groups] = await Promise.all([
  all(client.api("/users").select(USER_SELECT).top(999)),
  all(client.api("/groups").select("id,displayName,description,groupTypes,securityEnabled,mailEnabled").top(999)),
  client.api("/domains").get(),
  client.api("/subscribedSkus").get(),
]);
const usersById = new Map(users.map((u) => [u.id, u]));

// Members: batches of 20 listings, 4 batches in flight.
const members = new Map(groups.map((g) => [g.id, new Set()]));
let pending = groups.map((g) => `/groups/${g.id}/members?$select=id&$top=999`);
const owner = new Map(groups.map((g) => [`/groups/${g.id}/members?$select=id&$top=999`, g.id]));
let batches = 0;
while (pending.length > 0) {
  const chunks = [];
  for (let i = 0; i < pending.length; i += 20) chunks.push(pending.slice(i, i + 20));
  const next = [];
  for (let i = 0; i < chunks.length; i += 4) {
    await Promise.all(
      chunks.slice(i, i + 4).map(async (chunk) => {
        batches += 1;
        const body = await client.api("/$batch").post({
          requests: chunk.map((url, k) => ({ id: String(k), method: "GET", url })),
        });
        for (const r of body.responses) {
          const url = chunk[Number(r.id)];
          if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
          const set = members.get(owner.get(url));
          for (const m of r.body.value) set.add(m.id);
          const more = r.body["@odata.nextLink"];
          if (more) {
            const rel = more.slice(more.indexOf("/v1.0") + 5);
            owner.set(rel, owner.get(url));
            next.push(rel);
          }
        }
      }),
    );
  }
  pending = next;
}
let memberships = 0;
for (const s of members.values()) memberships += s.size;
console.log(
  JSON.stringify({
    users: usersById.size,
    groups: groups.length,
    memberships,
    batches,
    ms: Math.round(performance.now() - t0),
  }),
);
