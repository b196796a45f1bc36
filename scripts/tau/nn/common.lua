-- Helpers shared by the layers of tau.nn (internal).
local tau = require "tau"
local util = require "tau.util"
local init = require "tau.nn.initialization"
local fans = init._fans
local fail = util.fail
local M = {}

-- A number or a pair {h, w} as a pair.
function M.pair(v, what, fn)
  if type(v) == "number" then return {v, v} end
  if type(v) == "table" and #v == 2 then return {v[1], v[2]} end
  fail(fn, "%s must be a number or a pair {h, w}, got %s", what, tostring(v))
end

function M.pair_str(p) return p[1] == p[2] and tostring(p[1]) or "(" .. p[1] .. ", " .. p[2] .. ")" end

function M.check_positive_int(v, what, fn)
  local i = type(v) == "number" and math.tointeger(v) or nil
  if not i or i < 1 then fail(fn, "%s must be a positive integer, got %s", what, tostring(v)) end
  return i
end

function M.new_param(...) return tau.empty(...):requires_grad() end

-- PyTorch's default for linear and convolution layers: Kaiming-uniform with a = sqrt(5),
-- i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same range.
function M.default_init(w, b)
  init.kaiming_uniform_(w, {a = math.sqrt(5)})
  if b then
    local fan_in = fans(w, "tau.nn.init")
    local bound = fan_in > 0 and 1 / math.sqrt(fan_in) or 0
    init.uniform_(b, -bound, bound)
  end
end

return M
