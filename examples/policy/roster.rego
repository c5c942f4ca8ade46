# Policy-as-code gate for roster plans (OPA / conftest, Rego v1).
#
#   roster plan --format json > plan.json
#   conftest test --policy examples/policy plan.json
#
# Denies a plan that deletes more than `max_user_deletes` users in one apply, or that
# adds anyone to a protected group without going through the security team.
package main

import rego.v1

max_user_deletes := 10

protected_groups := {"domain-admins", "global-admins"}

deny contains msg if {
	deletes := [c | some c in input.changes; c.object == "user"; c.action == "delete"]
	count(deletes) > max_user_deletes
	msg := sprintf("plan deletes %d users; at most %d per apply", [count(deletes), max_user_deletes])
}

deny contains msg if {
	some c in input.changes
	c.object == "membership"
	c.action == "add"
	c.group in protected_groups
	msg := sprintf("plan adds %s to the protected group %s (app %s)", [c.member, c.group, c.app])
}

deny contains msg if {
	input.format_version != "1"
	msg := sprintf("unknown plan format_version %v", [input.format_version])
}
