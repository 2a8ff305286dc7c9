package labels_test

import (
	"fmt"

	"github.com/jobgraph/jobgraph/core/inventory/labels"
)

func Example() {
	sel, err := labels.Parse("tier in (web, api), env == prod, !canary")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(sel)

	hosts := []struct {
		name   string
		labels map[string]string
	}{
		{"web-1", map[string]string{"env": "prod", "tier": "web"}},
		{"web-2", map[string]string{"env": "prod", "tier": "web", "canary": "true"}},
		{"api-1", map[string]string{"env": "staging", "tier": "api"}},
		{"db-1", map[string]string{"env": "prod", "tier": "db"}},
	}
	for _, h := range hosts {
		fmt.Println(h.name, sel.Matches(h.labels))
	}

	_, err = labels.Parse("env=prod, tier in (web")
	fmt.Println(err)
	// Output:
	// !canary,env=prod,tier in (api,web)
	// web-1 true
	// web-2 false
	// api-1 false
	// db-1 false
	// invalid selector "env=prod, tier in (web" at position 18: unterminated value list
}

func ExampleSelector_Requirements() {
	sel := labels.MustParse("region notin (us-east, eu-west), env!=prod")
	for _, r := range sel.Requirements() {
		fmt.Printf("%s %s %q\n", r.Key, r.Operator, r.Values)
	}
	// Output:
	// env != ["prod"]
	// region notin ["eu-west" "us-east"]
}
