# Built-in admission rules. They stay permissive: the deny messages of every
# layer are a union, so a built-in deny could never be lifted by a provider.
# The library denies nothing and only warns.
#
# Outputs (see README.md, "admission"): deny and warn, sets of messages.
package klaxon.admission

hour_ns := 3600000000000

deny := set()

# A first level that waits over an hour leaves a new incident unpaged that long.
warn contains msg if {
	input.object.kind == "EscalationPolicy"
	delay := input.object.spec.levels[0].delay
	time.parse_duration_ns(delay) > hour_ns
	msg := sprintf("the first escalation level waits %s before paging anyone; a new incident stays unpaged that long", [delay])
}
