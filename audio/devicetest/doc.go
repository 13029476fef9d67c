// Package devicetest runs the PortAudio capture and playback of package
// audio against real sound devices: the virtual microphone and speaker of a
// private PulseAudio daemon, which PortAudio reaches through ALSA's
// "default" and "pulse" devices.
//
// The tests start the daemon with the script named by VIRTUAL_AUDIO_SCRIPT,
// or scripts/virtual-audio.sh of the repository, and skip when neither is
// there or the daemon does not start. The script installs PulseAudio when it
// is missing. Its devices are "vmic" (a sink whose monitor is the default
// input) and "vspeaker" (the default output). All tests of this package
// share them, so none runs in parallel.
//
// The package holds only tests.
package devicetest
