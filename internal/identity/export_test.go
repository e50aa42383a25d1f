package identity

import "jnedu/internal/platform/web"

func webPerm(s string) web.Perm { return web.Perm(s) }
