package klaxon.redact_test

import data.klaxon.redact

test_nothing_extra_is_masked_by_default if {
	count(redact.patterns) == 0 with input as {"incident": {"spec": {"title": "x"}}}
	count(redact.fields) == 0 with input as {"incident": {"spec": {"title": "x"}}}
}
