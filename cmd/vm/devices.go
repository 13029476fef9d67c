package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/audio"
)

func (a *app) devicesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "devices",
		Short: "List the audio devices that --mic and --speaker can name",
		Long: "List the audio devices that PortAudio sees, with their input and output channel\n" +
			"counts. '*' marks the default input and output device.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDevices()
		},
	}
}

func (a *app) runDevices() error {
	devs, err := audio.Devices()
	if err != nil {
		return fmt.Errorf("list audio devices: %w", err)
	}
	if len(devs) == 0 {
		fmt.Fprintln(a.stdout, "no audio devices found: check that PulseAudio or ALSA is running")
		return nil
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tIN\tOUT\tDEFAULT")
	for _, d := range devs {
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\n", d.Name, d.MaxInputChannels, d.MaxOutputChannels, defaultMarks(d))
	}
	return w.Flush()
}

// defaultMarks returns "in", "out", "in,out" or "" for a device.
func defaultMarks(d audio.DeviceInfo) string {
	switch {
	case d.DefaultInput && d.DefaultOutput:
		return "*in,out"
	case d.DefaultInput:
		return "*in"
	case d.DefaultOutput:
		return "*out"
	}
	return ""
}
