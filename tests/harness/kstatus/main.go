// kstatus: print the kstatus health (sigs.k8s.io/cli-utils/pkg/kstatus/status) of each object of a
// Kubernetes List read as JSON from stdin, one JSON line per object: {"name", "status", "message"}.
// Built by tests/harness/kstatus.py and used by the status tests, as Flux and `kubectl wait` judge.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	for _, item := range list.Items {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(item); err != nil { // numbers as int64, as the API machinery reads them
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		res, err := status.Compute(u)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = out.Encode(map[string]string{"name": u.GetName(), "status": res.Status.String(), "message": res.Message})
	}
}
