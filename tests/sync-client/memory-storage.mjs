/** In-memory StorageAdapterInterface, for the reference server and the scripted client. Having
 * one makes a client announce a storageId and isEphemeral:false in its join, like a browser
 * client with IndexedDB. */
export class MemoryStorage {
  #data = new Map()
  #k = key => key.join("\u0000")
  async load(key) {
    return this.#data.get(this.#k(key))
  }
  async save(key, data) {
    this.#data.set(this.#k(key), data)
  }
  async remove(key) {
    this.#data.delete(this.#k(key))
  }
  async loadRange(prefix) {
    const p = this.#k(prefix)
    const res = []
    for (const [k, data] of this.#data) {
      if (prefix.length === 0 || k === p || k.startsWith(p + "\u0000")) {
        res.push({ key: k.split("\u0000"), data })
      }
    }
    return res
  }
  async removeRange(prefix) {
    for (const { key } of await this.loadRange(prefix)) this.#data.delete(this.#k(key))
  }
}
