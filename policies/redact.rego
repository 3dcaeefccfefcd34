# Built-in redaction for post-mortem records: nothing beyond what the record
# writer always masks.
#
# Outputs (see README.md, "redact"): patterns (set of RE2 regular expressions
# whose matches are masked in every string of the record) and fields (set of
# dotted paths into the incident whose values are masked). Every layer adds to
# them; none can take a mask away.
package klaxon.redact

patterns := set()

fields := set()
