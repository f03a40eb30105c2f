-- POST /api/v1/auth/refresh with rotation: each 200 hands back the next
-- refresh token of that session, which goes back into this thread's pool.
-- A pool holds more tokens than the thread has connections, and a token is
-- taken out while its request is in flight, so no token is ever sent twice.
package.path = "bench/wrk/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

local pool = {}
local headers = common.json_headers()

function init(args)
   pool = common.read_lines(args[1], id, tonumber(args[2]))
end

function request()
   local token = table.remove(pool)
   if token == nil then
      -- Every token went to a failed request: this one fails too (a 422),
      -- and the errors column says so.
      token = ""
   end
   return wrk.format("POST", "/api/v1/auth/refresh", headers, '{"refresh_token": "' .. token .. '"}')
end

function response(status, headers, body)
   if status == 200 then
      local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
      if token then
         pool[#pool + 1] = token
      end
   end
end
