/** Binding a kernel socket, with an error that names the channel and the address. */
import type * as zmq from "zeromq";

export async function bindNamed(socket: zmq.Socket, channel: string, address: string): Promise<void> {
  try {
    await socket.bind(address);
  } catch (error) {
    throw new Error(
      `cannot listen on the ${channel} channel at ${address}: ${(error as Error).message}; ` +
        `another kernel may be using this connection file's ports: let Jupyter write a new one`,
    );
  }
}
