package client

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/vm-voice/vm/audio/oggopus"
	"github.com/vm-voice/vm/proto/pb"
)

// Fetch downloads the stored Ogg Opus file of one message. It rejects a
// blob larger than Options.MaxBlobSize before reading it, and a blob that
// is not a valid Ogg Opus stream, so the caller can write the returned
// bytes as they are.
func (c *Conn) Fetch(ctx context.Context, conversation, msgID string) (*pb.MessageInfo, []byte, error) {
	req := &pb.Request{Body: &pb.Request_FetchMessage{FetchMessage: &pb.FetchMessage{
		MessageId: msgID, Conversation: conversation,
	}}}
	var (
		info *pb.MessageInfo
		blob []byte
	)
	err := c.exchange(ctx, req, nil, func(r *bufio.Reader) error {
		var err error
		info, blob, err = c.readBlob(r, msgID)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("fetch message %s: %w", msgID, err)
	}
	if _, err := oggopus.Read(bytes.NewReader(blob), int64(len(blob))); err != nil {
		return nil, nil, fmt.Errorf("fetch message %s: %w: %w", msgID, ErrBadResponse, err)
	}
	return info, blob, nil
}

// readBlob reads the BlobHeader response and the blob bytes after it.
func (c *Conn) readBlob(r *bufio.Reader, msgID string) (*pb.MessageInfo, []byte, error) {
	var resp pb.Response
	if err := readResponse(r, &resp); err != nil {
		return nil, nil, err
	}
	hdr := resp.GetBlob()
	switch {
	case hdr == nil || hdr.GetInfo() == nil:
		return nil, nil, fmt.Errorf("%w: no blob header", ErrBadResponse)
	case hdr.GetInfo().GetMessageId() != msgID:
		return nil, nil, fmt.Errorf("%w: blob of message %q", ErrBadResponse, hdr.GetInfo().GetMessageId())
	case hdr.GetSize() == 0 || hdr.GetSize() > uint64(c.opts.MaxBlobSize):
		return nil, nil, fmt.Errorf("%w: blob of %d bytes, limit %d", ErrBadResponse, hdr.GetSize(), c.opts.MaxBlobSize)
	}
	blob, err := readExactly(r, int64(hdr.GetSize()))
	if err != nil {
		return nil, nil, fmt.Errorf("read blob: %w", err)
	}
	return hdr.GetInfo(), blob, nil
}

// readExactly reads n bytes, growing its buffer as data arrives so that a
// size announced by the peer never allocates by itself.
func readExactly(r io.Reader, n int64) ([]byte, error) {
	var buf bytes.Buffer
	got, err := io.Copy(&buf, io.LimitReader(r, n))
	if err != nil {
		return nil, err
	}
	if got < n {
		return nil, fmt.Errorf("got %d of %d bytes: %w", got, n, io.ErrUnexpectedEOF)
	}
	return buf.Bytes(), nil
}
