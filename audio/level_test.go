package audio

import (
	"math"
	"testing"
)

func TestLevelDBFS(t *testing.T) {
	square := make([]float32, FrameSamples)
	for i := range square {
		square[i] = 1
		if i%2 == 1 {
			square[i] = -1
		}
	}
	tests := []struct {
		name  string
		frame []float32
		want  float64
	}{
		{"empty", nil, SilenceDBFS},
		{"silence", make([]float32, FrameSamples), SilenceDBFS},
		{"full-scale square", square, 0},
		{"full-scale sine", sine(1000, SampleRate, FrameSamples, 1), -3.01},
		{"sine at 0.1", sine(1000, SampleRate, FrameSamples, 0.1), -23.01},
		{"below the floor", []float32{1e-7, -1e-7}, SilenceDBFS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LevelDBFS(tt.frame); math.Abs(got-tt.want) > 0.02 {
				t.Errorf("LevelDBFS = %.3f, want %.2f", got, tt.want)
			}
		})
	}
}
