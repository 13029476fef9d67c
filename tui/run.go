package tui

import (
	"context"
	"errors"
	"fmt"

	tea "charm.land/bubbletea/v2"
)

// Run shows the UI on the terminal until the user quits or ctx ends, and
// then closes b. Bubble Tea restores the terminal on exit and after a
// panic in Update, View or a command, which Run returns as an error, so b
// is closed in that case too. progOpts are added to the program's
// options, for example tea.WithInput and tea.WithOutput.
func Run(ctx context.Context, b Backend, opt Options, progOpts ...tea.ProgramOption) (err error) {
	defer func() {
		if cerr := b.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close engine: %w", cerr)
		}
	}()
	m := New(ctx, b, opt)
	opts := append([]tea.ProgramOption{tea.WithContext(ctx)}, progOpts...)
	_, err = tea.NewProgram(m, opts...).Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil && !errors.Is(err, tea.ErrProgramPanic) {
		// The caller cancelled ctx, for example on SIGTERM.
		return nil
	}
	if err != nil {
		return fmt.Errorf("terminal UI: %w", err)
	}
	return nil
}
