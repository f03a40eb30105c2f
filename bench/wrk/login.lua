-- POST /api/v1/auth/login, JSON; each data line is `username<TAB>password`.
package.path = "bench/wrk/?.lua;" .. package.path
local common = require("common")

setup = common.setup
done = common.done

function init(args)
   local requests = {}
   for _, line in ipairs(common.read_lines(args[1], id, tonumber(args[2]))) do
      local username, password = line:match("^([^\t]+)\t(.+)$")
      local body = string.format('{"username": "%s", "password": "%s"}', username, password)
      requests[#requests + 1] = wrk.format("POST", "/api/v1/auth/login", common.json_headers(), body)
   end
   request = common.cycle(requests)
end
