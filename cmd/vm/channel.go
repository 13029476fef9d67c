package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/vm-voice/vm/client"
	"github.com/vm-voice/vm/proto"
	"github.com/vm-voice/vm/proto/pb"
)

func (a *app) channelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "channel",
		Short: "Create, join, leave and list channels",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(
		a.channelOpCmd("create", "Create a channel and join it", func(ctx context.Context, c *client.Conn, name string) error {
			info, err := c.CreateChannel(ctx, name)
			if err == nil {
				fmt.Fprintf(a.stdout, "created #%s\n", info.GetName())
			}
			return err
		}),
		a.channelOpCmd("join", "Join a channel", func(ctx context.Context, c *client.Conn, name string) error {
			info, err := c.JoinChannel(ctx, name)
			if err == nil {
				fmt.Fprintf(a.stdout, "joined #%s\n", info.GetName())
			}
			return err
		}),
		a.channelOpCmd("leave", "Leave a channel", func(ctx context.Context, c *client.Conn, name string) error {
			err := c.LeaveChannel(ctx, name)
			if err == nil {
				fmt.Fprintf(a.stdout, "left #%s\n", name)
			}
			return err
		}),
		a.channelOpCmd("members", "List the members of a channel, one handle a line", func(ctx context.Context, c *client.Conn, name string) error {
			info, err := c.Members(ctx, name)
			if err == nil {
				printMembers(a, info)
			}
			return err
		}),
		a.channelListCmd(),
	)
	return cmd
}

// channelOpCmd returns a subcommand that runs op on one channel name.
func (a *app) channelOpCmd(verb, short string, op func(context.Context, *client.Conn, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " #CHANNEL",
		Short: short,
		Args:  exactArgs(1, "a #CHANNEL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := trimSigil(args[0], '#')
			if err := proto.CheckName("channel", name); err != nil {
				return usageError{err}
			}
			return a.withSession(cmd.Context(), func(ctx context.Context, c *client.Conn) error {
				if _, err := handleOf(c); err != nil {
					return err
				}
				return op(ctx, c, name)
			})
		},
	}
}

// printMembers prints one member a line, marking the owner.
func printMembers(a *app, info *pb.ChannelInfo) {
	for _, m := range info.GetMembers() {
		if m == info.GetOwner() {
			fmt.Fprintf(a.stdout, "@%s (owner)\n", m)
			continue
		}
		fmt.Fprintf(a.stdout, "@%s\n", m)
	}
}

func (a *app) channelListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the channels you are a member of, with unread counts",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withSession(cmd.Context(), func(ctx context.Context, c *client.Conn) error {
				if _, err := handleOf(c); err != nil {
					return err
				}
				convs, err := c.ListConversations(ctx)
				if err != nil {
					return err
				}
				for _, conv := range convs {
					if strings.HasPrefix(conv.GetId(), "c.") {
						fmt.Fprintf(a.stdout, "#%s\t%d unread\n", strings.TrimPrefix(conv.GetId(), "c."), conv.GetUnread())
					}
				}
				return nil
			})
		},
	}
}

// withSession runs op once on a logged-in connection, with retries.
func (a *app) withSession(ctx context.Context, op func(context.Context, *client.Conn) error) error {
	s, _, _, err := a.newSession()
	if err != nil {
		return err
	}
	defer s.close()
	return s.do(ctx, op)
}
