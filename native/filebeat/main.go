// Command filebeat is the OSS Filebeat, built from the pinned beats module so the
// native stack needs no Docker image. It wires Filebeat exactly as upstream's
// filebeat/main.go does; build it with native/build-filebeat.sh.
package main

import (
	"os"
	_ "time/tzdata" // timestamps must parse with zone names even on hosts without tzdata

	"github.com/elastic/beats/v7/filebeat/cmd"
	inputs "github.com/elastic/beats/v7/filebeat/input/default-inputs"
)

func main() {
	if err := cmd.Filebeat(inputs.Init, cmd.FilebeatSettings("")).Execute(); err != nil {
		os.Exit(1)
	}
}
