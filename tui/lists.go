package tui

import (
	"slices"

	tea "charm.land/bubbletea/v2"
	"github.com/vm-voice/vm/client"
)

// setConversations replaces the conversation list, keeping the selection
// on the same conversation, and opens it when it changed.
func (m Model) setConversations(msg convsMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		m.setNotice("list conversations: "+msg.err.Error(), true)
		return m, nil
	}
	prev, _ := m.selectedConv()
	m.convs = msg.convs
	m.convSel = 0
	if i := slices.IndexFunc(m.convs, func(c client.ConversationState) bool {
		return c.ID == prev.ID
	}); i >= 0 {
		m.convSel = i
	}
	if c, ok := m.selectedConv(); ok && c.ID == m.msgConv {
		return m, nil
	}
	return m.openSelected()
}

// setMessages replaces the timeline when msg is for the open
// conversation. The first load selects the first unheard message, or
// else the newest.
func (m Model) setMessages(msg msgsMsg) (tea.Model, tea.Cmd) {
	if msg.conv != m.msgConv {
		return m, nil
	}
	first := m.loading
	m.loading = false
	if msg.err != nil {
		m.setNotice("list messages: "+msg.err.Error(), true)
		return m, nil
	}
	prev, _ := m.selectedMsg()
	m.msgs = msg.msgs
	m.msgSel = len(m.msgs) - 1
	if first {
		if i := m.nextUnheard(0); i >= 0 {
			m.msgSel = i
		}
	} else if i := m.messageIndex(prev.ID); i >= 0 {
		m.msgSel = i
	}
	m.msgSel = max(m.msgSel, 0)
	return m, nil
}
