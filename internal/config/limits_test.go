package config

import "maps"

// limitKeyCases are the validator cases of the resource-limit keys; they
// join brokerSetCases (kept apart so the long names do not realign that
// table).
var limitKeyCases = map[string]struct{ good, bad []string }{
	"cluster.max.partitions":                   {[]string{"1", "200000"}, []string{"0", "-1", "x"}},
	"group.coordinator.max.groups":             {[]string{"1", "100000", "2147483647"}, []string{"0", "-1", "2147483648", "many"}},
	"group.coordinator.max.members":            {[]string{"1", "200000"}, []string{"0", "-1", "2147483648", "x"}},
	"producer.id.expiration.ms":                {[]string{"1", "86400000", "9223372036854775807"}, []string{"0", "-1", "1d"}},
	"producer.id.expiration.check.interval.ms": {[]string{"1", "600000"}, []string{"0", "-1", "10m"}},
	"producer.state.max.entries":               {[]string{"1", "10000", "2147483647"}, []string{"0", "-1", "2147483648", "lots"}},
}

func init() { maps.Copy(brokerSetCases, limitKeyCases) }
